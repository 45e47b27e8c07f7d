"""Localisation: the origin of an event, with its uncertainty, from its detections."""
