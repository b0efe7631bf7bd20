"""The BASIC virtual machine: wasmtime instance, host heap, suspension, limits, save/restore."""
