"""The `cnnopt` sub-commands: one module each, with `register(subparsers)`.

COMMANDS is every command with its one-line help, kept here so that `cnnopt --help` lists them
without importing a single command module (their imports reach torch, which takes seconds):
cnnopt.cli imports only the module of the command being run. A new command is a module here
plus its line below; tests/core/test_cli_basics.py checks the two agree.
"""

COMMANDS = {
    "apply": "apply an optimization recipe (YAML) to a model and save the result",
    "attack": "clean vs adversarial (FGSM/PGD) accuracy of a model",
    "bench": "measure latency, throughput, MACs, params, size and memory of a model",
    "data": "list, fetch and describe datasets",
    "eval": "accuracy, top-5, per-class precision/recall/F1 and confusion matrix of a model",
    "export": "export a model to ONNX, OpenVINO IR or safetensors (with a parity check)",
    "kernels": "time the NumPy conv algorithms (naive, im2col, Winograd F2/F4, FFT) per layer",
    "models": "list the built-in models with parameters and MACs",
    "optimize": "search optimizations; report the accuracy/latency Pareto front and the best model",
    "prune": "remove whole channels (structured pruning) and save the smaller model",
    "quantize": "quantize a model (int8 PTQ/dynamic/QAT/mixed, bf16) and measure it in a runtime",
    "report": "rebuild the HTML/Markdown report of a `cnnopt optimize` run from its results.json",
    "train": "train a model (tuned default recipe), save a checkpoint and metrics.json",
}
