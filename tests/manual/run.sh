#!/bin/sh

# Run your algorithm code
python3 algo-template.py
