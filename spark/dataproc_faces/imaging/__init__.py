"""One image, bytes in and bytes out: decoding and encoding (codec), drawing outlines and hiding
faces (render, anonymise), metadata kept or stripped, and the render options. No Spark, no I/O."""
