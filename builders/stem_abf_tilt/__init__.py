"""stem_abf_tilt: ABF STEM images of tilted perovskites, multislice + GP surrogate."""
