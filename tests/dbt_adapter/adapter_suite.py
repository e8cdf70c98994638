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
from dbt.tests.adapter.unit_testing.test_case_insensitivity import BaseUnitTestCaseInsensivity
from dbt.tests.adapter.unit_testing.test_invalid_input import BaseUnitTestInvalidInput
from dbt.tests.adapter.unit_testing.test_quoted_reserved_word_column_names import (
    BaseUnitTestQuotedReservedWordColumnNames,
)
from dbt.tests.adapter.unit_testing.test_types import (
    BaseUnitTestingTypes,
    BaseUnitTestingVarcharFixtureNoTruncation,
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
