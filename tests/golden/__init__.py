"""Golden stored-event payloads (see README.md in this folder). Never edit the data files."""
