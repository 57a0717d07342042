"""Testing a trained network by the paper's protocol (Sec. 3.2): its views run through the net, and their posteriors."""
