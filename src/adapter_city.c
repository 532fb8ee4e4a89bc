/* adapter_city.c - not yet written */
