"""Errors a user can act on: each names the collection, file, row or field at fault."""


class CvizError(Exception):
    """Base class: the message is shown to the user as is, on one line where possible."""


class InvalidName(CvizError, ValueError):
    """A collection name or a path that would escape the storage root."""


class TemplateError(CvizError, ValueError):
    """A title/url template that is malformed or names a column that does not exist."""


class MetadataError(CvizError, ValueError):
    """The metadata CSV cannot be used as given."""


class CollectionError(CvizError):
    """A collection cannot be processed (e.g. not one usable image)."""


class StorageFull(CvizError):
    """The storage root ran out of space (or quota) while writing: nothing was replaced.

    Deliberately not an OSError, so no code that skips unreadable files can swallow it.
    """


class CollectionBusy(CvizError):
    """Another run holds the collection's lock: the message names that run and how to proceed."""
