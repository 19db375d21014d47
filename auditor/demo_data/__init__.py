"""The embedded demo corpus (data files only), built by scripts/build_demo_corpus.py and read by
`auditor.demo`. A package so that the files ship in the wheel as package data."""
