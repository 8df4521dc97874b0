import { cachedHelp } from './help-tree.js';

// `--help` is answered from the tree written at build time, without loading any command module
// (help-tree.ts); everything else, and a missing or stale tree, goes through the program.
const help = cachedHelp(process.argv.slice(2), new URL('./help-tree.json', import.meta.url));
if (help !== undefined) process.stdout.write(help);
else process.exitCode = await (await import('./main.js')).main(process.argv);
