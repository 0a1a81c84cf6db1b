"""Query-string filters of the files list: `?category=`."""

from billing_site.api.filters import ChoiceFilter, FilterSet
from storage.models import StoredFile


class FileFilter(FilterSet):
    """`?category=` keeps the files of one category; a present but empty or unknown value is 400 `validation_error`,
    the rule of every list (billing_site.api.filters)."""

    category = ChoiceFilter(choices=StoredFile.Category.choices, help_text="Only this category.")

    class Meta(FilterSet.Meta):
        model = StoredFile
        fields = ["category"]
