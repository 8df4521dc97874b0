import { cachedHelp } from './help-tree.js';

// `--help` is answered from the tree written at build time, without loading any command module
// (help-tree.ts); everything else, and a missing or stale tree, goes through the program.
// No top-level await: this module also runs as CommonJS (the CLI's own build, bin/upcat.js).
const help = cachedHelp(process.argv.slice(2), new URL('./help-tree.json', import.meta.url));
if (help !== undefined) process.stdout.write(help);
else
  void import('./main.js').then(async ({ main }) => {
    process.exitCode = await main(process.argv);
  });
