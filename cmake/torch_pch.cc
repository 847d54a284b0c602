// Translation unit that owns the precompiled torch header reused by every torch target.
