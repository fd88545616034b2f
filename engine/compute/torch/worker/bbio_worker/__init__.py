"""The torch compute worker of BalancedBio: a Llama-family decoder in plain PyTorch driven over stdio
by engine/compute/torch (protocol: schemas/compute-protocol.schema.json). Needs torch alone."""
