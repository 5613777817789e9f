/**
 * `file_sd`: targets from Prometheus file_sd files (JSON or YAML lists of target groups),
 * as Prometheus' discovery/file does: each matching file is read on every refresh, the
 * directories are watched (`fs.watch`) so a change is read at once, and every
 * `refresh_interval` everything is read again because watches miss events on some
 * filesystems (NFS, some container mounts). A file that cannot be read or parsed keeps its
 * previous targets (a tool caught half-way through writing it); a deleted file loses them.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { RefreshingDiscovery, type DiscoveryContext } from './refresh.js';
import { DiscoveryError, targetGroupsOf, type TargetGroup } from './target-groups.js';

export interface FileSdConfig {
  files: string[];
  refresh_interval: number;
  scheme: 'http' | 'https';
}

/** `*` in a file name as any run of characters (Prometheus' filepath.Match, minus the rest of its syntax, refused by the schema). */
function fileNameMatcher(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+^${}()|[\]\\?]/g, '\\$&'))
      .join('.*')}$`,
    'u',
  );
}

export class FileDiscovery extends RefreshingDiscovery {
  private readonly patterns: { directory: string; name: RegExp }[];
  /** The groups each file held when it was last read well. */
  private readonly byFile = new Map<string, TargetGroup[]>();
  private readonly watchers = new Map<string, FSWatcher>();
  /** Directories whose watch could not be set up, so a failure is counted and logged once, not every refresh. */
  private readonly unwatched = new Set<string>();

  constructor(context: DiscoveryContext, name: string, config: FileSdConfig) {
    super(context, 'file_sd', name, config.scheme, config.refresh_interval);
    this.patterns = config.files.map((pattern) => {
      const path = isAbsolute(pattern) ? pattern : resolve(context.baseDir, pattern);
      return { directory: dirname(path), name: fileNameMatcher(basename(path)) };
    });
  }

  override stop(): void {
    super.stop();
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  protected async read(): Promise<TargetGroup[]> {
    const files: string[] = [];
    for (const directory of new Set(this.patterns.map((p) => p.directory))) {
      this.watchDirectory(directory);
      let names: string[];
      try {
        names = await readdir(directory);
      } catch (error) {
        // A directory that does not exist (yet) holds no targets, as Prometheus' glob finds none.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new DiscoveryError('read', `cannot list ${directory}: ${(error as Error).message}`, { cause: error });
      }
      for (const name of names.sort()) {
        if (this.patterns.some((p) => p.directory === directory && p.name.test(name))) files.push(join(directory, name));
      }
    }
    const groups: TargetGroup[] = [];
    for (const file of new Set(files)) {
      const read = await this.readFile(file);
      if (read) this.byFile.set(file, read);
      groups.push(...(this.byFile.get(file) ?? []));
    }
    for (const file of this.byFile.keys()) if (!files.includes(file)) this.byFile.delete(file);
    return groups;
  }

  /** The groups of one file, or undefined when it cannot be read or parsed now (counted and logged; its previous groups stay). */
  private async readFile(file: string): Promise<TargetGroup[] | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      // Deleted between the listing and the read: it has no targets now.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      this.filePartFailed(file, new DiscoveryError('read', `cannot read ${file}: ${(error as Error).message}`, { cause: error }));
      return undefined;
    }
    let document: unknown;
    try {
      document = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
    } catch (error) {
      this.filePartFailed(
        file,
        new DiscoveryError('parse', `${file} is not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`, { cause: error }),
      );
      return undefined;
    }
    try {
      return targetGroupsOf(document, file, { __meta_filepath: file });
    } catch (error) {
      this.filePartFailed(file, error as DiscoveryError);
      return undefined;
    }
  }

  private filePartFailed(file: string, error: DiscoveryError): void {
    const previous = this.byFile.get(file);
    this.partFailed(
      error,
      previous ? ` keeping its previous ${previous.reduce((n, g) => n + g.targets.length, 0)} targets` : ' it adds no targets until it can be read',
    );
  }

  private watchDirectory(directory: string): void {
    if (this.stopped || this.watchers.has(directory)) return;
    let watcher: FSWatcher;
    try {
      // Any change in the directory re-reads every file: a rename into place (how tools write
      // these files atomically) shows as an event on the directory, not on the file.
      watcher = watch(directory, { persistent: false }, () => void this.refresh());
    } catch (error) {
      if (!this.unwatched.has(directory)) {
        this.unwatched.add(directory);
        this.partFailed(
          new DiscoveryError('watch', `cannot watch ${directory}: ${(error as Error).message}`, { cause: error }),
          ` re-reading it every refresh_interval instead`,
        );
      }
      return;
    }
    this.unwatched.delete(directory);
    watcher.on('error', (error) => {
      // The directory went away (or the watch broke): the next refresh tries to watch it again.
      watcher.close();
      this.watchers.delete(directory);
      this.unwatched.add(directory);
      this.partFailed(
        new DiscoveryError('watch', `watch of ${directory} failed: ${error.message}`, { cause: error }),
        ' re-reading it every refresh_interval until it can be watched again',
      );
      void this.refresh();
    });
    this.watchers.set(directory, watcher);
  }
}
