/**
 * genecontent: gene gain and loss along a phylogeny.
 *
 * Each gene family evolves on the tree as a two-state continuous-time Markov chain (gain rate
 * `gain`, loss rate `loss`, stationary root prior pi1 = gain / (gain + loss)); the likelihood is
 * computed by Felsenstein pruning (a native Rust kernel, or pure TypeScript where it cannot be
 * loaded) and conditioned on what a presence/absence matrix can contain.
 *
 * @example
 * ```ts
 * import { fitNullModel, loadDataset, openLikelihood } from "./mod.ts";
 *
 * const data = await loadDataset("tests/data/contract/tree.nwk", "tests/data/contract/pam.tsv");
 * using likelihood = await openLikelihood(data);
 * const fit = fitNullModel(likelihood);
 * console.log(fit.gain, fit.loss, fit.ci?.pi1, likelihood.backend.name);
 * ```
 *
 * @module
 */

// Errors and version
export { GenecontentError } from "./lib/errors.ts";
export { quoteValue } from "./lib/text/decode.ts";
export { VERSION } from "./lib/version.ts";

// Trees
export {
  type FlatTree,
  flatTreeFromParents,
  nodeDepths,
  totalLength,
} from "./lib/tree/flat_tree.ts";
export { parseNewick } from "./lib/newick/parse.ts";
export { isNexus, parseTreeFile, type TreeFile, type TreeFileOptions } from "./lib/newick/nexus.ts";
export { formatNewick, quoteNewickLabel } from "./lib/newick/format.ts";
export { pruneTree } from "./lib/tree/prune.ts";

// Presence/absence matrices
export { ABSENT, MISSING, type PresenceAbsenceMatrix, PRESENT } from "./lib/pam/matrix.ts";
export {
  type PamFormat,
  type PamOrientation,
  type PamReadOptions,
  type ParsedPam,
  parsePam,
  parsePamBytes,
  readPam,
} from "./lib/pam/read.ts";
export { type AlignedPam, type AlignOptions, alignPamToTree } from "./lib/pam/align.ts";
export { compressPatterns, type SitePatterns } from "./lib/pam/patterns.ts";
export { type Dataset, loadDataset, type LoadOptions, readTree } from "./lib/load_dataset.ts";

// Models as data
export {
  type Ascertainment,
  formatModel,
  MAX_COMPONENTS,
  type ModelDescription,
  modelParameters,
  NULL_MODEL,
  type ParameterKind,
  type ParameterSpec,
  parseModel,
  type RateVariation,
} from "./lib/model/description.ts";
export {
  namedValues,
  splitsFromWeights,
  valuesFromNames,
  weightsFromSplits,
} from "./lib/model/values.ts";
export { type GammaCategories, gammaCategoryRates } from "./lib/model/gamma.ts";
export { parseCompleteness, readCompleteness } from "./lib/model/tip_error.ts";
export { type ComponentSummary, type ModelSummary, summarizeModel } from "./lib/model/summaries.ts";
export {
  type Effect,
  type EffectChannel,
  effectParameters,
  type EffectSetup,
  type FamilyGroups,
  familyGroups,
} from "./lib/model/effects.ts";

// The model and its likelihood
export {
  type StatePair,
  type Stationary,
  stationary,
  type TransitionDerivatives,
  transitionDerivatives,
  type TransitionMatrix,
  transitionMatrix,
} from "./lib/model/two_state.ts";
export type {
  AsyncEvaluateOptions,
  BackendName,
  EvaluateOptions,
  Evaluation,
  ExpectationOptions,
  Expectations,
  LikelihoodBackend,
  RateLayout,
} from "./lib/likelihood/backend.ts";
export { Algorithm, type AlgorithmName } from "./lib/native/ffi.ts";
export type { LocateOptions, ReleaseManifest } from "./lib/native/locate.ts";
export {
  type BackendChoice,
  type BackendFactory,
  chooseBackend,
  type ChooseBackendOptions,
  tsBackendFactory,
} from "./lib/likelihood/choose_backend.ts";
export { TsBackend } from "./lib/likelihood/ts_backend.ts";
export { NativeBackend } from "./lib/native/native_backend.ts";
export {
  GainLossLikelihood,
  type GainLossLikelihoodOptions,
  type LikelihoodValue,
} from "./lib/likelihood/gain_loss_likelihood.ts";
export {
  openLikelihood,
  type OpenLikelihoodOptions,
  openModelLikelihood,
  type OpenModelLikelihoodOptions,
} from "./lib/likelihood/open_likelihood.ts";
export {
  AT_LEAST_ONE,
  type ModelEvaluateOptions,
  type ModelEvaluation,
  ModelLikelihood,
  type ModelLikelihoodOptions,
} from "./lib/likelihood/model_likelihood.ts";
export {
  logProbObservableWindow,
  type ObservableEvaluateOptions,
  type ObservableRequest,
  type ObservableResult,
  ObservableWindow,
} from "./lib/likelihood/observable.ts";
export {
  familyCounts,
  impossibleFamilies,
  type ImpossibleFamily,
  perFamilyMap,
  type PerFamilyTable,
  perFamilyTable,
  perFamilyValues,
  refuseImpossible,
  refuseNonFinite,
} from "./lib/likelihood/per_family.ts";

// Fitting
export {
  fitNullModel,
  fitNullModelGeneric,
  type FitOptions,
  type NullModelFit,
} from "./lib/fit/fit_null_model.ts";
export {
  type LbfgsOptions,
  type LbfgsResult,
  minimizeLbfgs,
  type Objective,
} from "./lib/fit/lbfgs.ts";
export {
  type DerivedQuantity,
  fitModel,
  fitModelLikelihood,
  type FitModelOptions,
  type Interval,
  type ModelFit,
  type ParameterEstimate,
} from "./lib/fit/fit_model.ts";
export {
  type LikelihoodObjective,
  type ModelObjective,
  modelObjective,
  nullModelObjective,
  type RateScale,
  treeRateScale,
} from "./lib/fit/objective.ts";
export { presenceQuantities } from "./lib/fit/derived.ts";
export { relabelMixture } from "./lib/fit/label_switching.ts";
export {
  type ComparedFit,
  compareModels,
  type CompareOptions,
  type ComparisonRow,
  formatComparison,
  type LikelihoodRatioTest,
  likelihoodRatioTest,
  type Nesting,
  nesting,
} from "./lib/fit/compare.ts";
export {
  chiBarSquareSurvival,
  chiSquareCdf,
  chiSquareQuantile,
  chiSquareSurvival,
} from "./lib/fit/chi_square.ts";

// Where genes were gained and lost
export {
  type AncestralOptions,
  type AncestralReconstruction,
  type AncestralSums,
  type FamilyAncestral,
  type FamilyBlock,
  type FamilySetSums,
  type FamilyTurnover,
  type GenomeSums,
  genomeSums,
  reconstructAncestral,
} from "./lib/ancestral/reconstruct.ts";
export {
  applyCoefficients,
  type BranchCoefficients,
  branchCoefficients,
  type BranchEvents as ExpectedBranchEvents,
  branchEvents,
  branchLengthDerivative,
  endpointIntegral,
} from "./lib/ancestral/events.ts";
export { idNewick, nodeIds } from "./lib/ancestral/node_ids.ts";
export {
  type CountSummary,
  type FamilyBranchSummary,
  type ModelRates,
  type SampledHistories,
  sampleEndpointJumps,
  stochasticMap,
  type StochasticMapOptions,
  stochasticMapPatterns,
  type StochasticMapPatternsOptions,
  type StochasticMapSummary,
} from "./lib/ancestral/stochastic_map.ts";
export {
  branchSummaryTsv,
  type BranchSums,
  type FamilyAncestralRow,
  familyLongTsvRows,
  type FamilyQuantity,
  type LongTsvOptions,
  type LongTsvSummary,
  writeBranchSummaryTsv,
  writeFamilyLongTsv,
} from "./lib/ancestral/formats/long_tsv.ts";
export type { TextOutputOptions } from "./lib/ancestral/formats/stream_writer.ts";
export { formatNhx } from "./lib/ancestral/formats/nhx.ts";
export {
  type ItolBarOptions,
  itolBranchStyle,
  itolBranchText,
  type ItolNaming,
  itolSimpleBar,
  type ItolStyleOptions,
  type ItolTextOptions,
} from "./lib/ancestral/formats/itol.ts";
export {
  type BranchLengthEvaluation,
  type BranchLengthFit,
  type BranchLengthFitOptions,
  BranchLengthLikelihood,
  type BranchLengthLikelihoodOptions,
  fitBranchLengths,
  type FitBranchLengthsOptions,
  optimizeBranchLengths,
} from "./lib/fit/branch_lengths.ts";

// Simulation
export { Random } from "./lib/simulate/random.ts";
export {
  caterpillarTree,
  type CoalescentOptions,
  coalescentTree,
  starTree,
  type YuleOptions,
  yuleTree,
} from "./lib/simulate/trees.ts";
export {
  type BranchEvents,
  effectValueVector,
  type GroupCounts,
  type ModelSimulation,
  type ModelValues,
  type SimulatedEffect,
  simulateModel,
  type SimulateModelOptions,
  type SimulationComponent,
  simulationComponents,
} from "./lib/simulate/model.ts";
export { type LikeDataOptions, simulateLikeData } from "./lib/simulate/like_data.ts";

// Tests of effects: family sets, lineages, per-family screens
export {
  type FamilySets,
  type MetadataRow,
  type MetadataTable,
  parseFamilySets,
  parseMetadataTable,
  readFamilySets,
  readMetadataTable,
  type TipClasses,
  tipClasses,
  tipCovariate,
} from "./lib/effects/inputs.ts";
export {
  type BranchClasses,
  branchClasses,
  type CladeDesign,
  cladeDesign,
  classDesign,
  classDesigns,
  covariateDesign,
  fitMkRate,
  jointMkReconstruction,
  type LineageDesign,
  mkLogLikelihood,
  mrcaOf,
  resolveNode,
} from "./lib/effects/branches.ts";
export {
  type Alternative,
  contrast,
  type EffectEstimate,
  type EffectPart,
  type EffectTestData,
  type EffectTestOptions,
  type EffectTestResult,
  lrtPValue,
  type PartsTestResult,
  testEffectParts,
  testEffects,
} from "./lib/effects/likelihood_ratio.ts";
export {
  maximizeOnGrid,
  type RandomSetCalibration,
  randomSetCalibration,
  type RandomSetOptions,
  thetaGrid,
} from "./lib/effects/random_sets.ts";
export { benjaminiHochberg } from "./lib/effects/fdr.ts";
export {
  calibratedPValues,
  type CurveValues,
  DEFAULT_CALIBRATION,
  type FamilyCurveSource,
  type FamilyScreen,
  type PatternScreen,
  type PatternScreenBoth,
  scaledBackground,
  type ScreenBackground,
  type ScreenChannel,
  screenFamilies,
  type ScreenOptions,
  type ScreenPatternOptions,
  screenPatterns,
  screenPatternsBoth,
  type ScreenResult,
  THETA_BOUND,
} from "./lib/effects/screen.ts";

// Does the model fit? Spectrum, prevalence classes, genome diagnostics
export {
  countPrevalenceClasses,
  PREVALENCE_CLASSES,
  PREVALENCE_TABLE,
  type PrevalenceClass,
  prevalenceClass,
  type PrevalenceClassRow,
  SCREEN_CLASSES,
  type ScreenClass,
  screenClass,
  screenOfClass,
} from "./lib/diagnostics/prevalence_classes.ts";
export {
  type DiagnosticOptions,
  expectedSpectrum,
  MIN_EXPECTED,
  observedSpectrum,
  pooledPearson,
  type PooledStatistic,
  type PrevalenceComparison,
  prevalenceComparison,
  type SpectrumBootstrap,
  type SpectrumBootstrapOptions,
  type SpectrumClass,
  type SpectrumFit,
  spectrumFit,
  type SpectrumFitOptions,
} from "./lib/diagnostics/spectrum.ts";
export {
  GENOME_Z_THRESHOLD,
  type GenomeDiagnostic,
  type GenomeDiagnosticOptions,
  type GenomeDiagnostics,
  genomeDiagnostics,
  type GenomeStatistic,
  type ParameterChange,
  type RefitComparison,
  refitWithout,
  type RefitWithoutOptions,
} from "./lib/diagnostics/genomes.ts";

// The report
export {
  type CollectOptions,
  collectReportData,
  reportModels,
  type ReportModelSetup,
} from "./lib/report/collect.ts";
export {
  type ReportData,
  type ReportFit,
  reportFit,
  type ReportGenomes,
  type ReportParameter,
  type ReportScreen,
  type ReportSpectrum,
  type ReportTree,
  type ScreenRow as ReportScreenRow,
  type SpectrumClassRow,
  type TopFamilyRow,
  topScreenRows,
  type TreeSource,
} from "./lib/report/data.ts";
export {
  FIGURE_FILES,
  renderFigures,
  renderReportHtml,
  type ReportFigures,
} from "./lib/report/render_html.ts";
export { layoutTree, type TreeLayout, type TreeLayoutOptions } from "./lib/report/tree_layout.ts";
export { type TreeFigureEvents, treeSvg } from "./lib/report/figures/tree.ts";
export { PLOTTING_LIBRARIES, type VegaLiteSpec, vegaLiteToSvg } from "./lib/report/figures/vega.ts";
export { encodePamTsv, simulatedFamilyName } from "./lib/simulate/pam_tsv.ts";
export {
  type ObservedPam,
  simulateFamilies,
  type SimulateFamiliesOptions,
  type SimulateObservedOptions,
  simulateObservedPam,
} from "./lib/simulate/families.ts";

// Provenance
export { type InputRecord, makeProvenance, type Provenance } from "./lib/provenance.ts";
