#!/usr/bin/env node
// The CLI runs from the compiled output; `npm install` builds it (the "prepare" script).
import('../dist/cli/run.js').catch((err) => {
  process.stderr.write(
    `upcat: cannot start (${err && err.message ? err.message : err}); run "npm run build"\n`,
  );
  process.exit(1);
});
