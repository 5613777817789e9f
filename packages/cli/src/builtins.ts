/** The default distribution: every built-in component package, registered like any plugin. */
import consoleExporter from '@profcol/exporter-console';
import fileExporter from '@profcol/exporter-file';
import otlpExporter from '@profcol/exporter-otlp';
import otlpProfilesExporter from '@profcol/exporter-otlpprofiles';
import statusExtension from '@profcol/extension-status';
import healthCheckExtension from '@profcol/extension-healthcheck';
import goruntime from '@profcol/processor-goruntime';
import memoryLimiter from '@profcol/processor-memorylimiter';
import pprofDecode from '@profcol/processor-pprofdecode';
import tags from '@profcol/processor-tags';
import ddtraceReceiver from '@profcol/receiver-ddtrace';
import pprofReceiver from '@profcol/receiver-pprof';
import type { Plugin } from '@profcol/core';

export const builtinPlugins: Plugin[] = [
  ddtraceReceiver,
  pprofReceiver,
  pprofDecode,
  goruntime,
  tags,
  otlpExporter,
  otlpProfilesExporter,
  fileExporter,
  consoleExporter,
  statusExtension,
  healthCheckExtension,
  memoryLimiter,
];
