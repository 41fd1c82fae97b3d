"""Whole-file conversion: videos and images on the command line (files.py) and the web page's
job queue (jobs.py)."""
