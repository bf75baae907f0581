"""Loss terms shared by the training methods."""
