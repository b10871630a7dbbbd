#!/usr/bin/env bash
echo "make demo: not yet — the exporter is being built."
