/** profcol is named in the instrumentation scope of what it exports, not in the resource. */
export const SCOPE_NAME = 'profcol';
/** The version of this package (kept in step with package.json by its test). */
export const SCOPE_VERSION = '0.1.0';
