"""The applications built on the pipeline: command line, web server and API, batch runs."""
