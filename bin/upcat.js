#!/usr/bin/env node
// The CLI runs from the compiled output, CommonJS (scripts/build-dist.mjs says why; bin/package.json
// makes this file CommonJS too); `npm install` builds it (the "prepare" script).
try {
  require('../dist/cli/run.js');
} catch (err) {
  process.stderr.write(
    `upcat: cannot start (${err && err.message ? err.message : err}); run "npm run build"\n`,
  );
  process.exit(1);
}
