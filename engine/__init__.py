"""svcplan: service plans for social-services agencies, from YAML templates to findings.

The pipeline, one module a stage: `load` → `validate` → `compile` → `instantiate`
→ `evaluate` → `store` and `report`.
"""

__version__ = "0.1.0"
