"""Running a suite: its entries trained and evaluated, evaluations cached, every look on the scored split on record."""
