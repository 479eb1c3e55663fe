"""One module per `cnnopt` sub-command; each defines `register(subparsers)`."""
