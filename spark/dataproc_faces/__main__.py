from dataproc_faces.cli import main

main()
