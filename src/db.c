/* db.c - not yet written */
