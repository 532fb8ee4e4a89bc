/* adapter_province.c - not yet written */
