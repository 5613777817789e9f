export { main, prepare, type CliIo } from './main.js';
export { builtinPlugins } from './builtins.js';
export { buildRegistry } from './registry.js';
export { convertDataKitProfileConf, ConvertError } from './convert-datakit.js';
