"""Training one network with the paper's recipe (Sec. 3.1): options, data, augmentation, initialisation, the
loop, checkpoints and ranks."""
