/**
 * The in-memory ontology model shared by the OBO loader, the term index, MKGSG and the language server.
 * Field names follow OBO 1.4 (https://owlcollab.github.io/oboformat/doc/GO.format.obo-1_4.html).
 */

export type SynonymScope = 'EXACT' | 'BROAD' | 'NARROW' | 'RELATED';

export interface Synonym {
  text: string;
  scope: SynonymScope;
  /** Optional synonym type name, e.g. `abbreviation`, `layperson` (OBO: synonym "x" EXACT abbreviation []). */
  type?: string;
}

/** A directed edge `source --relation--> target`: examples cite edges, so the type is engine/core's. */
export type { Edge } from '../core/example';

export interface Term {
  id: string;
  name: string;
  namespace?: string;
  def?: string;
  defXrefs: string[];
  synonyms: Synonym[];
  /** Parent ids via is_a. */
  isA: string[];
  /** `relationship: <relation> <target>` lines, in file order. */
  relationships: { relation: string; target: string }[];
  xrefs: string[];
  subsets: string[];
  comment?: string;
  isObsolete: boolean;
  replacedBy: string[];
  /** Tags the loader does not interpret, kept verbatim (tag → values). */
  other: Record<string, string[]>;
  /** 1-based line of the `[Term]` header in its source file. */
  line: number;
  /** Source file path or URL. */
  source: string;
}

export interface Typedef {
  id: string;
  name: string;
  def?: string;
  isTransitive: boolean;
  isSymmetric: boolean;
  /** Expected source/target classes, e.g. a drug→condition relation (OBO `domain`/`range`). */
  domain?: string;
  range?: string;
  other: Record<string, string[]>;
  line: number;
  source: string;
}

export interface OntologyHeader {
  formatVersion?: string;
  dataVersion?: string;
  ontology?: string;
  defaultNamespace?: string;
  other: Record<string, string[]>;
}

export interface Ontology {
  header: OntologyHeader;
  terms: Map<string, Term>;
  typedefs: Map<string, Typedef>;
  /** Loader warnings that did not stop loading (unknown tags are kept silently, not warned). */
  warnings: { source: string; line: number; message: string }[];
}
