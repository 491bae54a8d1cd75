"""Values as any provider would return them, from what its Python SDK declares: nothing provider-specific.

- `schema` — declared types, read as text from the program's own provider SDKs;
- `shapes` — outputs of the declared shape: echoed inputs, documented defaults, computed values;
- `formats` — a plausible string for a property, chosen by its name and documentation;
- `wire` — the engine's wire form of values (secrets, unknowns, references) and the conversion to plain Python.

A rule that holds for every provider's SDK goes here; a rule of one provider goes in `providers/`.
"""
