"""Generator and discriminator modules (plain ``nn.Module``s)."""
