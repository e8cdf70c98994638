"""The dbt-tests-adapter classes laid out as predsql comparison cases.

Collected only by `generate.py` (pytest in the dbt venv, with dbt-tests-adapter
installed); the default test run never imports this file. Each class subclasses one
of the package's Base classes, as an adapter's own test suite does, with DuckDB's
type names where a class asks for them.
"""
# ruff: noqa: F401, E701
from __future__ import annotations

from pathlib import Path

import pytest
from dbt.tests.adapter.aliases.test_aliases import (
    BaseAliasErrors,
    BaseAliases,
    BaseSameAliasDifferentSchemas,
)
from dbt.tests.adapter.basic.test_base import BaseSimpleMaterializations
from dbt.tests.adapter.basic.test_empty import BaseEmpty
from dbt.tests.adapter.basic.test_ephemeral import BaseEphemeral
from dbt.tests.adapter.basic.test_generic_tests import BaseGenericTests
from dbt.tests.adapter.basic.test_incremental import (
    BaseIncremental,
    BaseIncrementalNotSchemaChange,
)
from dbt.tests.adapter.basic.test_singular_tests import BaseSingularTests
from dbt.tests.adapter.basic.test_singular_tests_ephemeral import BaseSingularTestsEphemeral
from dbt.tests.adapter.basic.test_snapshot_check_cols import BaseSnapshotCheckCols
from dbt.tests.adapter.basic.test_snapshot_timestamp import BaseSnapshotTimestamp
from dbt.tests.adapter.basic.test_table_materialization import BaseTableMaterialization
from dbt.tests.adapter.constraints.test_constraints import (
    BaseConstraintQuotedColumn,
    BaseConstraintsRollback,
    BaseConstraintsRuntimeDdlEnforcement,
    BaseIncrementalConstraintsColumnsEqual,
    BaseIncrementalConstraintsRollback,
    BaseIncrementalConstraintsRuntimeDdlEnforcement,
    BaseIncrementalContractSqlHeader,
    BaseIncrementalForeignKeyConstraint,
    BaseModelConstraintsRuntimeEnforcement,
    BaseTableConstraintsColumnsEqual,
    BaseTableContractSqlHeader,
    BaseViewConstraintsColumnsEqual,
)
from dbt.tests.adapter.empty.test_empty import (
    BaseTestEmpty,
    BaseTestEmptyInlineSourceRef,
    BaseTestEmptySeedFlag,
)
from dbt.tests.adapter.ephemeral.test_ephemeral import (
    BaseEphemeralErrorHandling,
    BaseEphemeralMulti,
    BaseEphemeralNested,
)
from dbt.tests.adapter.hooks.test_model_hooks import (
    BaseDuplicateHooksInConfigs,
    BaseHookRefs,
    BaseHooksRefsOnSeeds,
    BasePrePostModelHooks,
    BasePrePostModelHooksInConfig,
    BasePrePostModelHooksInConfigKwargs,
    BasePrePostModelHooksInConfigWithCount,
    BasePrePostModelHooksOnSeeds,
    BasePrePostModelHooksOnSeedsPlusPrefixed,
    BasePrePostModelHooksOnSeedsPlusPrefixedWhitespace,
    BasePrePostModelHooksOnSnapshots,
    BasePrePostSnapshotHooksInConfigKwargs,
)
from dbt.tests.adapter.hooks.test_run_hooks import BaseAfterRunHooks, BasePrePostRunHooks
from dbt.tests.adapter.incremental.test_incremental_merge_exclude_columns import (
    BaseMergeExcludeColumns,
)
from dbt.tests.adapter.incremental.test_incremental_on_schema_change import (
    BaseIncrementalOnSchemaChange,
)
from dbt.tests.adapter.incremental.test_incremental_predicates import BaseIncrementalPredicates
from dbt.tests.adapter.incremental.test_incremental_unique_id import BaseIncrementalUniqueKey
from dbt.tests.adapter.simple_seed.test_seed import (
    BaseBasicSeedTests,
    BaseSeedConfigFullRefreshOff,
    BaseSeedConfigFullRefreshOn,
    BaseSeedCustomSchema,
    BaseSeedParsing,
    BaseSeedSpecificFormats,
    BaseSeedWithEmptyDelimiter,
    BaseSeedWithUniqueDelimiter,
    BaseSeedWithWrongDelimiter,
    BaseSimpleSeedEnabledViaConfig,
    BaseTestEmptySeed,
)
from dbt.tests.adapter.simple_seed.test_seed_type_override import (
    BaseSimpleSeedColumnOverride,
)
from dbt.tests.adapter.simple_snapshot.new_record_check_mode import (
    BaseSnapshotNewRecordCheckMode,
)
from dbt.tests.adapter.simple_snapshot.new_record_dbt_valid_to_current import (
    BaseSnapshotNewRecordDbtValidToCurrent,
)
from dbt.tests.adapter.simple_snapshot.new_record_timestamp_mode import (
    BaseSnapshotNewRecordTimestampMode,
)
from dbt.tests.adapter.simple_snapshot.test_ephemeral_snapshot_hard_deletes import (
    BaseSnapshotEphemeralHardDeletes,
    BaseSnapshotNewColumnSpecificCheckCols,
    BaseSnapshotNewColumnTimestampStrategy,
    BaseSnapshotNewColumnWithDeletes,
)
from dbt.tests.adapter.simple_snapshot.test_snapshot import BaseSimpleSnapshot, BaseSnapshotCheck
from dbt.tests.adapter.simple_snapshot.test_various_configs import (
    BaseSnapshotColumnNames,
    BaseSnapshotColumnNamesFromDbtProject,
    BaseSnapshotDbtValidToCurrent,
    BaseSnapshotInvalidColumnNames,
    BaseSnapshotMultiUniqueKey,
)
from dbt.tests.adapter.store_test_failures_tests.basic import (
    StoreTestFailuresAsExceptions,
    StoreTestFailuresAsGeneric,
    StoreTestFailuresAsInteractions,
    StoreTestFailuresAsProjectLevelEphemeral,
    StoreTestFailuresAsProjectLevelOff,
    StoreTestFailuresAsProjectLevelView,
)
from dbt.tests.adapter.store_test_failures_tests.test_store_test_failures import (
    BaseStoreTestFailures,
    BaseStoreTestFailuresLimit,
)
from dbt.tests.adapter.unit_testing.test_case_insensitivity import BaseUnitTestCaseInsensivity
from dbt.tests.adapter.unit_testing.test_invalid_input import BaseUnitTestInvalidInput
from dbt.tests.adapter.unit_testing.test_quoted_reserved_word_column_names import (
    BaseUnitTestQuotedReservedWordColumnNames,
)
from dbt.tests.adapter.unit_testing.test_types import (
    BaseUnitTestingTypes,
    BaseUnitTestingVarcharFixtureNoTruncation,
)
from dbt.tests.adapter.utils.data_types.test_type_bigint import (
    BaseTypeBigInt,
)
from dbt.tests.adapter.utils.data_types.test_type_boolean import (
    BaseTypeBoolean,
)
from dbt.tests.adapter.utils.data_types.test_type_float import (
    BaseTypeFloat,
)
from dbt.tests.adapter.utils.data_types.test_type_int import (
    BaseTypeInt,
)
from dbt.tests.adapter.utils.data_types.test_type_numeric import (
    BaseTypeNumeric,
)
from dbt.tests.adapter.utils.data_types.test_type_string import (
    BaseTypeString,
)
from dbt.tests.adapter.utils.data_types.test_type_timestamp import (
    BaseTypeTimestamp,
)
from dbt.tests.adapter.utils.test_any_value import (
    BaseAnyValue,
)
from dbt.tests.adapter.utils.test_array_append import (
    BaseArrayAppend,
)
from dbt.tests.adapter.utils.test_array_concat import (
    BaseArrayConcat,
)
from dbt.tests.adapter.utils.test_array_construct import (
    BaseArrayConstruct,
)
from dbt.tests.adapter.utils.test_bool_or import (
    BaseBoolOr,
)
from dbt.tests.adapter.utils.test_cast import (
    BaseCast,
)
from dbt.tests.adapter.utils.test_cast_bool_to_text import (
    BaseCastBoolToText,
)
from dbt.tests.adapter.utils.test_concat import (
    BaseConcat,
)
from dbt.tests.adapter.utils.test_date import (
    BaseDate,
)
from dbt.tests.adapter.utils.test_date_spine import (
    BaseDateSpine,
)
from dbt.tests.adapter.utils.test_date_trunc import (
    BaseDateTrunc,
)
from dbt.tests.adapter.utils.test_dateadd import (
    BaseDateAdd,
)
from dbt.tests.adapter.utils.test_datediff import (
    BaseDateDiff,
)
from dbt.tests.adapter.utils.test_equals import (
    BaseEquals,
)
from dbt.tests.adapter.utils.test_escape_single_quotes import (
    BaseEscapeSingleQuotesQuote,
)
from dbt.tests.adapter.utils.test_except import (
    BaseExcept,
)
from dbt.tests.adapter.utils.test_generate_series import (
    BaseGenerateSeries,
)
from dbt.tests.adapter.utils.test_get_intervals_between import (
    BaseGetIntervalsBetween,
)
from dbt.tests.adapter.utils.test_get_powers_of_two import (
    BaseGetPowersOfTwo,
)
from dbt.tests.adapter.utils.test_hash import (
    BaseHash,
)
from dbt.tests.adapter.utils.test_intersect import (
    BaseIntersect,
)
from dbt.tests.adapter.utils.test_last_day import (
    BaseLastDay,
)
from dbt.tests.adapter.utils.test_length import (
    BaseLength,
)
from dbt.tests.adapter.utils.test_listagg import (
    BaseListagg,
)
from dbt.tests.adapter.utils.test_null_compare import (
    BaseMixedNullCompare,
    BaseNullCompare,
)
from dbt.tests.adapter.utils.test_position import (
    BasePosition,
)
from dbt.tests.adapter.utils.test_replace import (
    BaseReplace,
)
from dbt.tests.adapter.utils.test_right import (
    BaseRight,
)
from dbt.tests.adapter.utils.test_safe_cast import (
    BaseSafeCast,
)
from dbt.tests.adapter.utils.test_split_part import (
    BaseSplitPart,
)
from dbt.tests.adapter.utils.test_string_literal import (
    BaseStringLiteral,
)
from recorder import dbt_profile_target, record_case, unique_schema  # one case per class


@pytest.fixture(scope="module")
def test_data_dir() -> str:
    """The hooks classes read SQL files beside their own module."""
    import dbt.tests.adapter.hooks.fixtures as hooks

    return str(Path(hooks.__file__).parent / "data")


class DuckDBTypes:
    """Type names and typed values as DuckDB spells them (what the Base classes ask)."""

    @pytest.fixture
    def int_type(self) -> str:
        return "INT"

    @pytest.fixture
    def string_type(self) -> str:
        return "VARCHAR"

    @pytest.fixture
    def data_types(self, schema_int_type, int_type, string_type):
        # value in the model, data_type in the contract, the type DuckDB reports
        return [
            ["1", schema_int_type, int_type],
            ["'1'", string_type, string_type],
            ["true", "bool", "BOOL"],
            ["'2013-11-03 00:00:00-07'::timestamp", "TIMESTAMP", "TIMESTAMP"],
            ["'2013-11-03 00:00:00-07'::timestamptz", "TIMESTAMPTZ",
             "TIMESTAMP WITH TIME ZONE"],
            ["ARRAY['a','b','c']", "VARCHAR[]", "VARCHAR[]"],
            ["ARRAY[1,2,3]", "INTEGER[]", "INTEGER[]"],
            ["'1'::numeric", "numeric", "DECIMAL"],
        ]


class NotNullMessage:
    @pytest.fixture(scope="class")
    def expected_error_messages(self):
        return ["NOT NULL constraint failed"]


# basic
class TestSimpleMaterializations(BaseSimpleMaterializations): pass
class TestSingularTests(BaseSingularTests): pass
class TestSingularTestsEphemeral(BaseSingularTestsEphemeral): pass
class TestEmpty(BaseEmpty): pass
class TestEphemeral(BaseEphemeral): pass
class TestIncremental(BaseIncremental): pass
class TestIncrementalNotSchemaChange(BaseIncrementalNotSchemaChange): pass
class TestGenericTests(BaseGenericTests): pass
class TestSnapshotCheckCols(BaseSnapshotCheckCols): pass
class TestSnapshotTimestamp(BaseSnapshotTimestamp): pass
class TestTableMaterialization(BaseTableMaterialization): pass


# incremental
class TestIncrementalUniqueKey(BaseIncrementalUniqueKey): pass
class TestIncrementalPredicates(BaseIncrementalPredicates): pass
class TestIncrementalOnSchemaChange(BaseIncrementalOnSchemaChange): pass
class TestMergeExcludeColumns(BaseMergeExcludeColumns): pass


# snapshots
class TestSimpleSnapshot(BaseSimpleSnapshot): pass
class TestSnapshotCheck(BaseSnapshotCheck): pass
class TestSnapshotColumnNames(BaseSnapshotColumnNames): pass
class TestSnapshotColumnNamesFromDbtProject(BaseSnapshotColumnNamesFromDbtProject): pass
class TestSnapshotInvalidColumnNames(BaseSnapshotInvalidColumnNames): pass
class TestSnapshotDbtValidToCurrent(BaseSnapshotDbtValidToCurrent): pass
class TestSnapshotMultiUniqueKey(BaseSnapshotMultiUniqueKey): pass
class TestSnapshotNewRecordTimestampMode(BaseSnapshotNewRecordTimestampMode): pass
class TestSnapshotNewRecordCheckMode(BaseSnapshotNewRecordCheckMode): pass
class TestSnapshotNewRecordDbtValidToCurrent(BaseSnapshotNewRecordDbtValidToCurrent): pass
class TestSnapshotEphemeralHardDeletes(BaseSnapshotEphemeralHardDeletes): pass
class TestSnapshotNewColumnTimestampStrategy(BaseSnapshotNewColumnTimestampStrategy): pass
class TestSnapshotNewColumnSpecificCheckCols(BaseSnapshotNewColumnSpecificCheckCols): pass
class TestSnapshotNewColumnWithDeletes(BaseSnapshotNewColumnWithDeletes): pass


# hooks
class TestPrePostModelHooks(BasePrePostModelHooks): pass
class TestHookRefs(BaseHookRefs): pass
class TestPrePostModelHooksOnSeeds(BasePrePostModelHooksOnSeeds): pass
class TestHooksRefsOnSeeds(BaseHooksRefsOnSeeds): pass
class TestPrePostModelHooksOnSeedsPlusPrefixed(BasePrePostModelHooksOnSeedsPlusPrefixed): pass
class TestPrePostModelHooksOnSeedsPlusPrefixedWhitespace(
        BasePrePostModelHooksOnSeedsPlusPrefixedWhitespace): pass
class TestPrePostModelHooksOnSnapshots(BasePrePostModelHooksOnSnapshots): pass
class TestPrePostModelHooksInConfig(BasePrePostModelHooksInConfig): pass
class TestPrePostModelHooksInConfigWithCount(BasePrePostModelHooksInConfigWithCount): pass
class TestPrePostModelHooksInConfigKwargs(BasePrePostModelHooksInConfigKwargs): pass
class TestPrePostSnapshotHooksInConfigKwargs(BasePrePostSnapshotHooksInConfigKwargs): pass
class TestDuplicateHooksInConfigs(BaseDuplicateHooksInConfigs): pass
class TestPrePostRunHooks(BasePrePostRunHooks): pass
class TestAfterRunHooks(BaseAfterRunHooks): pass


# aliases
class TestAliases(BaseAliases): pass
class TestAliasErrors(BaseAliasErrors): pass
class TestSameAliasDifferentSchemas(BaseSameAliasDifferentSchemas): pass


# ephemeral
class TestEphemeralMulti(BaseEphemeralMulti): pass
class TestEphemeralNested(BaseEphemeralNested): pass
class TestEphemeralErrorHandling(BaseEphemeralErrorHandling): pass


# unit testing
class TestUnitTestingTypes(BaseUnitTestingTypes):
    @pytest.fixture
    def data_types(self):
        # value in the model, the same value in the unit test's YAML
        return [
            ["1", "1"],
            ["2.0", "2.0"],
            ["'12345'", "12345"],
            ["'string'", "string"],
            ["true", "true"],
            ["DATE '2020-01-02'", "2020-01-02"],
            ["TIMESTAMP '2013-11-03 00:00:00-0'", "2013-11-03 00:00:00-0"],
            ["'2013-11-03 00:00:00-0'::TIMESTAMPTZ", "2013-11-03 00:00:00-0"],
            ["ARRAY['a','b','c']", "['a','b','c']"],
            ["ARRAY[1,2,3]", "[1, 2, 3]"],
        ]


class TestUnitTestCaseInsensitivity(BaseUnitTestCaseInsensivity): pass
class TestUnitTestInvalidInput(BaseUnitTestInvalidInput): pass
class TestUnitTestQuotedReservedWordColumnNames(BaseUnitTestQuotedReservedWordColumnNames): pass
class TestUnitTestingVarcharFixtureNoTruncation(BaseUnitTestingVarcharFixtureNoTruncation): pass


# constraints
class TestTableConstraintsColumnsEqual(DuckDBTypes, BaseTableConstraintsColumnsEqual): pass
class TestViewConstraintsColumnsEqual(DuckDBTypes, BaseViewConstraintsColumnsEqual): pass
class TestIncrementalConstraintsColumnsEqual(DuckDBTypes, BaseIncrementalConstraintsColumnsEqual):
    pass
class TestTableConstraintsRuntimeDdlEnforcement(DuckDBTypes, BaseConstraintsRuntimeDdlEnforcement):
    pass
class TestTableConstraintsRollback(DuckDBTypes, NotNullMessage, BaseConstraintsRollback): pass
class TestIncrementalConstraintsRuntimeDdlEnforcement(
        DuckDBTypes, NotNullMessage, BaseIncrementalConstraintsRuntimeDdlEnforcement): pass
class TestIncrementalConstraintsRollback(
        DuckDBTypes, NotNullMessage, BaseIncrementalConstraintsRollback): pass
class TestModelConstraintsRuntimeEnforcement(
        DuckDBTypes, NotNullMessage, BaseModelConstraintsRuntimeEnforcement): pass
class TestTableContractSqlHeader(BaseTableContractSqlHeader): pass
class TestIncrementalContractSqlHeader(BaseIncrementalContractSqlHeader): pass
class TestConstraintQuotedColumn(DuckDBTypes, BaseConstraintQuotedColumn): pass
class TestIncrementalForeignKeyConstraint(BaseIncrementalForeignKeyConstraint): pass


# empty
class TestEmptyFlag(BaseTestEmpty): pass
class TestEmptyInlineSourceRef(BaseTestEmptyInlineSourceRef): pass
class TestEmptySeedFlag(BaseTestEmptySeedFlag): pass


# utils (cross-database macros)
class TestAnyValue(BaseAnyValue): pass
class TestArrayAppend(BaseArrayAppend): pass
class TestArrayConcat(BaseArrayConcat): pass
class TestArrayConstruct(BaseArrayConstruct): pass
class TestBoolOr(BaseBoolOr): pass
class TestCast(BaseCast): pass
class TestCastBoolToText(BaseCastBoolToText): pass
class TestConcat(BaseConcat): pass
class TestDate(BaseDate): pass
class TestDateSpine(BaseDateSpine): pass
class TestDateTrunc(BaseDateTrunc): pass
class TestDateAdd(BaseDateAdd): pass
class TestDateDiff(BaseDateDiff): pass
class TestEquals(BaseEquals): pass
class TestEscapeSingleQuotes(BaseEscapeSingleQuotesQuote): pass
class TestExcept(BaseExcept): pass
class TestGenerateSeries(BaseGenerateSeries): pass
class TestGetIntervalsBetween(BaseGetIntervalsBetween): pass
class TestGetPowersOfTwo(BaseGetPowersOfTwo): pass
class TestHash(BaseHash): pass
class TestIntersect(BaseIntersect): pass
class TestLastDay(BaseLastDay): pass
class TestLength(BaseLength): pass
class TestListagg(BaseListagg): pass
class TestMixedNullCompare(BaseMixedNullCompare): pass
class TestNullCompare(BaseNullCompare): pass
class TestPosition(BasePosition): pass
class TestReplace(BaseReplace): pass
class TestRight(BaseRight): pass
class TestSafeCast(BaseSafeCast): pass
class TestSplitPart(BaseSplitPart): pass
class TestStringLiteral(BaseStringLiteral): pass
class TestTypeBigInt(BaseTypeBigInt): pass
class TestTypeBoolean(BaseTypeBoolean): pass
class TestTypeFloat(BaseTypeFloat): pass
class TestTypeInt(BaseTypeInt): pass
class TestTypeNumeric(BaseTypeNumeric): pass
class TestTypeString(BaseTypeString): pass
class TestTypeTimestamp(BaseTypeTimestamp): pass


# simple_seed
class TestBasicSeedTests(BaseBasicSeedTests): pass
class TestSeedConfigFullRefreshOff(BaseSeedConfigFullRefreshOff): pass
class TestSeedConfigFullRefreshOn(BaseSeedConfigFullRefreshOn): pass
class TestSeedCustomSchema(BaseSeedCustomSchema): pass
class TestSeedParsing(BaseSeedParsing): pass
class TestSeedSpecificFormats(BaseSeedSpecificFormats):
    @pytest.fixture(scope="class")
    def test_data_dir(self, tmp_path_factory) -> str:
        # the class makes (and removes) this folder for its 20,000-row seed
        return str(tmp_path_factory.mktemp("seed_formats") / "data")


class TestSeedWithEmptyDelimiter(BaseSeedWithEmptyDelimiter): pass
class TestSeedWithUniqueDelimiter(BaseSeedWithUniqueDelimiter): pass
class TestSeedWithWrongDelimiter(BaseSeedWithWrongDelimiter): pass
class TestSimpleSeedEnabledViaConfig(BaseSimpleSeedEnabledViaConfig): pass
class TestEmptySeed(BaseTestEmptySeed): pass
class TestSimpleSeedColumnOverride(BaseSimpleSeedColumnOverride): pass


# store_test_failures_tests
class TestStoreTestFailures(BaseStoreTestFailures): pass
class TestStoreTestFailuresLimit(BaseStoreTestFailuresLimit): pass
class TestStoreTestFailuresAsExceptions(StoreTestFailuresAsExceptions): pass
class TestStoreTestFailuresAsGeneric(StoreTestFailuresAsGeneric): pass
class TestStoreTestFailuresAsInteractions(StoreTestFailuresAsInteractions): pass
class TestStoreTestFailuresAsProjectLevelEphemeral(StoreTestFailuresAsProjectLevelEphemeral): pass
class TestStoreTestFailuresAsProjectLevelOff(StoreTestFailuresAsProjectLevelOff): pass
class TestStoreTestFailuresAsProjectLevelView(StoreTestFailuresAsProjectLevelView): pass
