"""Association: grouping detections from many sensors into the events that caused them."""
