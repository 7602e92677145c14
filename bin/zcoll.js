#!/usr/bin/env node
// The zcoll command; the code lives in dist/lib/cli/ (built by `npm install` / `npm run build`).
import('../dist/lib/cli/main.js');
