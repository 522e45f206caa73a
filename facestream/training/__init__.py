"""Training: corpus building, the streaming network and its training loop (torch needed).

`facestream.engine.lbs_torch.TorchHead` is the differentiable face layer training uses."""
