"""The page templates, as strings: the devhost runs the package from a zip, where Flask's
folder-based template loader cannot look. Jinja escapes every value (autoescape on)."""

from __future__ import annotations

import jinja2

BASE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{% if refresh %}<meta http-equiv="refresh" content="{{ refresh }}">{% endif %}
<title>{{ title }} - dataproc-faces</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1f7a4d;color:#fff;padding:.6em 1.2em}header a{color:#fff;margin-right:1em}
main{max-width:62em;margin:1em auto;padding:0 1em}
section{background:#fff;border:1px solid #e3e6eb;border-radius:6px;padding:1em;margin:1em 0}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3em .5em;
border-bottom:1px solid #e3e6eb}.error{color:#b42318}.state-DONE{color:#1f7a4d}
.state-ERROR,.state-CANCELLED{color:#b42318}label{display:block;margin:.4em 0}
button{background:#1f7a4d;color:#fff;border:0;border-radius:4px;padding:.4em 1em}
</style></head><body>
<header><strong>dataproc-faces</strong> <a href="{{ url_for('web.index') }}">Upload and run</a>
<a href="{{ url_for('web.runs') }}">Runs</a> <small>{{ where }}</small></header>
<main>{% block main %}{% endblock %}</main></body></html>"""

INDEX = """{% extends "base" %}{% block main %}
<section><h2>1. Upload photos</h2>
<form method="post" action="{{ url_for('web.upload') }}" enctype="multipart/form-data">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<label>Photos, or a zip of photos
<input type="file" name="files" id="files" multiple accept="image/*,.zip"></label>
<label>Batch <input name="batch" id="batch" value="{{ default_batch }}"></label>
<small>Up to {{ max_file_mb }} MB a file and {{ max_request_mb }} MB an upload. Files land in
{{ input_root }}/BATCH; a name already in the batch is refused, never replaced.</small>
<p><button type="submit" id="upload">Upload</button></p></form></section>
<section><h2>2. Run the job</h2>
<form method="post" action="{{ url_for('web.start') }}">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<label>Over batch <select name="batch" id="run-batch"><option value="">(none: use the folder
below)</option>{% for b in batches %}
<option{% if b == chosen %} selected{% endif %}>{{ b }}</option>{% endfor %}</select></label>
<label>or a folder under {{ input_root }}/ <input name="prefix" id="prefix"
placeholder="empty: everything"></label>
<label>Detector <select name="detector" id="detector">{% for d in detectors %}
<option{% if d == detector %} selected{% endif %}>{{ d }}</option>{% endfor %}</select></label>
<label>Mode <select name="mode" id="mode">{% for m in modes %}<option>{{ m }}</option>
{% endfor %}</select></label>
<p><button type="submit" id="run">Run</button> ({{ target }})</p></form></section>
{% endblock %}"""

UPLOADED = """{% extends "base" %}{% block main %}<section>
<h2>{{ names|length }} file{{ "s" if names|length != 1 }} uploaded to batch {{ batch }}</h2>
<ul>{% for n in names %}<li>{{ n }}</li>{% endfor %}</ul>
<form method="post" action="{{ url_for('web.start') }}">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="batch" value="{{ batch }}">
<input type="hidden" name="detector" value="{{ detector }}">
<input type="hidden" name="mode" value="outline">
<p><button type="submit" id="run">Run the job over this batch</button>
or <a href="{{ url_for('web.index', batch=batch) }}">choose options first</a></p></form>
</section>{% endblock %}"""

RUNS = """{% extends "base" %}{% block main %}<section><h2>Runs</h2>
{% if not runs %}<p>No runs yet.</p>{% else %}<table id="runs"><tr><th>run</th><th>state</th>
<th>progress</th><th>time</th><th>source</th><th>options</th><th>results</th></tr>
{% for r in runs %}<tr data-run="{{ r.id }}"><td><a href="{{ url_for('web.run_page',
run_id=r.id) }}">{{ r.id }}</a></td><td class="state state-{{ r.state }}">{{ r.state }}</td>
<td>{% if r.total %}{{ r.done }}/{{ r.total }}{% endif %}</td><td>{{ seconds(r.seconds) }}</td>
<td>{{ r.source }}</td><td>{{ r.detector }}, {{ r.mode }}</td><td>{% if r.state == "DONE" %}
<a class="gallery" href="{{ url_for('web.run_file', run_id=r.id, name='index.html') }}">gallery</a>
<a href="{{ url_for('web.manifest', run_id=r.id) }}">manifest</a>{% elif r.message %}
<span class="error">{{ r.message }}</span>{% endif %}</td></tr>{% endfor %}</table>{% endif %}
</section>{% endblock %}"""

RUN = """{% extends "base" %}{% block main %}<section><h2>Run {{ r.id }}</h2>
<p>State: <strong class="state state-{{ r.state }}" id="state">{{ r.state }}</strong>
{% if r.total %}, <span id="progress">{{ r.done }}/{{ r.total }}</span> images{% endif %},
{{ seconds(r.seconds) }}</p>
{% if r.message %}<p class="error" id="message">{{ r.message }}</p>{% endif %}
<p>Source {{ r.source }}; results {{ r.output }}{% if r.job_id %}; Dataproc job
{{ r.job_id }}{% endif %}.</p>
{% if r.state == "DONE" %}<p><a id="gallery" href="{{ url_for('web.run_file', run_id=r.id,
name='index.html') }}">Open the gallery</a> · <a href="{{ url_for('web.manifest',
run_id=r.id) }}">download the manifest</a></p>{% endif %}</section>{% endblock %}"""

ERROR = """{% extends "base" %}{% block main %}<section><h2>{{ title }}</h2>
<p class="error" id="error">{{ sentence }}</p>{% if reasons %}<ul id="reasons">
{% for r in reasons %}<li>{{ r }}</li>{% endfor %}</ul>{% endif %}
<p><a href="{{ url_for('web.index') }}">Back to the upload page</a></p></section>{% endblock %}"""

LOADER = jinja2.DictLoader(
    {"base": BASE, "index": INDEX, "uploaded": UPLOADED, "runs": RUNS, "run": RUN, "error": ERROR}
)
