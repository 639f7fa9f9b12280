"""The faust-streaming worker: vitals topic → stored samples, detector scores, alert candidates."""
