import { ownPackageVersion } from '@profcol/core';

/** profcol is named in the instrumentation scope of what it exports, not in the resource. */
export const SCOPE_NAME = 'profcol';
/** The version of this package, as published. */
export const SCOPE_VERSION = ownPackageVersion(import.meta.url);
