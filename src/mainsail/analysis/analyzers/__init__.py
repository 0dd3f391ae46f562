"""One module per analyzer; each exports ``ANALYZER``. ``mainsail.analysis.analyze`` runs them."""
