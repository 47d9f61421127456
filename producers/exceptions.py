"""Errors that leave the producers package: an upload that cannot be read as a whole.

Raised before any row is handed on, so an upload is either read or refused outright; row-level
problems are `Violation`s, not exceptions. Each error carries a stable `reason` for the upload
ledger, the file name, and a message in Chinese and English that tells the provider what to fix.
"""

from __future__ import annotations

from pathlib import Path

from schemas.errors import CreditError


class UploadFileError(CreditError):
    """Base: the uploaded file as a whole cannot be taken; nothing from it was read."""

    reason = "file.error"

    def __init__(self, path: Path, message_zh: str, message_en: str) -> None:
        super().__init__(f"{path.name}: {message_en} / {message_zh}")
        self.path = path
        self.message_zh = message_zh
        self.message_en = message_en


class EmptyFileError(UploadFileError):
    """No header row, or a header and no data rows."""

    reason = "file.empty"

    def __init__(self, path: Path, message_zh: str, message_en: str) -> None:
        super().__init__(
            path,
            f"{message_zh}，请按模板填写表头和数据后上传",
            f"{message_en}; fill in the template's header and data",
        )


class HeaderError(UploadFileError):
    """The header does not fit the class: required columns missing, or a column given twice.

    `missing` and `duplicated` hold the Chinese labels, so a UI can list them.
    """

    reason = "file.header"

    def __init__(
        self,
        path: Path,
        message_zh: str,
        message_en: str,
        *,
        missing: tuple[str, ...] = (),
        duplicated: tuple[str, ...] = (),
    ) -> None:
        super().__init__(path, message_zh, message_en)
        self.missing = missing
        self.duplicated = duplicated


class CorruptFileError(UploadFileError):
    """Not a readable .xlsx or .csv (damaged, truncated, or another format under that name)."""

    reason = "file.corrupt"

    @classmethod
    def not_a_workbook(cls, path: Path, cause: str) -> CorruptFileError:
        return cls(
            path,
            f"无法作为 Excel 工作簿读取（{cause}），文件可能已损坏；请用 Excel 打开后另存为 .xlsx",
            f"cannot be read as an Excel workbook ({cause}); the file may be damaged. "
            "Open it in Excel and save it again as .xlsx",
        )

    @classmethod
    def not_text(cls, path: Path) -> CorruptFileError:
        return cls(
            path,
            "这不是文本格式的 CSV 文件（可能是 Excel 工作簿改了扩展名），"
            "请另存为 .xlsx 或 CSV 后上传",
            "this is not a text CSV file (perhaps an Excel workbook renamed); "
            "save it as .xlsx or CSV and upload again",
        )


class UnsupportedFileError(CorruptFileError):
    """A format we do not read (.xls, .et, .numbers …); the fix is to save as .xlsx or .csv.

    A subclass of `CorruptFileError` because to the caller both mean "this file cannot be read".
    """

    reason = "file.unsupported"

    @classmethod
    def legacy_excel(cls, path: Path) -> UnsupportedFileError:
        return cls(
            path,
            "不支持旧版 .xls（或加密的）工作簿，"
            "请在 Excel 中取消密码并“另存为”Excel 工作簿（.xlsx）后上传",
            "old .xls (or password-protected) workbooks are not supported: remove the password "
            "and use Save As → Excel Workbook (.xlsx), then upload again",
        )

    @classmethod
    def other_format(cls, path: Path) -> UnsupportedFileError:
        suffix = path.suffix.lower()
        return cls(
            path,
            f"不支持 {suffix or '无扩展名的'} 文件，请上传 .xlsx 或 .csv",
            f"{suffix or 'files without an extension'} are not supported; upload .xlsx or .csv",
        )


class DepartmentError(CreditError):
    """The provider's department does not report the class (the catalog says who does)."""


class PublishError(CreditError):
    """Records could not be handed to Kafka (registry refused a schema, broker did not ack).

    Unlike the file errors this is not the provider's to fix: the upload is intact and can be
    retried once the platform is healthy.
    """


class PollError(CreditError):
    """Base of the database poller's errors (数据库对接): nothing was published by that run."""

    reason = "poll.error"


class PollConfigError(PollError):
    """The poller's YAML config is unreadable or wrong; `key` names the offending entry."""

    reason = "poll.config"

    def __init__(self, path: Path, key: str, message: str) -> None:
        super().__init__(f"{path}: `{key}`: {message}")
        self.path = path
        self.key = key


class UnknownFieldError(PollConfigError):
    """A `columns:` entry maps a database column to something that is not a field of the class."""

    reason = "poll.unknown_field"


class PollSourceError(PollError):
    """The provider's database cannot be used as configured (driver, table, columns, types)."""

    reason = "poll.source"


class SourceUnavailableError(PollSourceError):
    """The database did not answer (down, refused, wrong credentials); a later run may succeed."""

    reason = "poll.unavailable"


class MissingTableError(PollSourceError):
    """The configured `table` does not exist in the provider's database."""

    reason = "poll.missing_table"


class MissingColumnError(PollSourceError):
    """A configured column (watermark, key or mapped) is not in the table or query result."""

    reason = "poll.missing_column"


class WatermarkStateError(PollError):
    """The committed-watermark state file cannot be read or written, or another poller holds it."""

    reason = "poll.state"


class ApiKeyError(CreditError):
    """A key cannot be issued (unknown department, class not assigned to it)."""


class IntakeError(PublishError):
    """The intake could not be written or read (full disk, damaged file)."""
