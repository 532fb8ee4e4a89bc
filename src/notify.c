/* notify.c - not yet written */
