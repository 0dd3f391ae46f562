"""Istio's sample applications, written in Python to run on the local platform."""
