"""BASIC to WebAssembly compiler; grows in the compiler issue."""
