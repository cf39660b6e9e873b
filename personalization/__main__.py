"""``python -m personalization``: the command line (see ``personalization.cli``)."""

from personalization.cli import end_process, main

end_process(main())
