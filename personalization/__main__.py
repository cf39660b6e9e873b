from personalization.cli import main

raise SystemExit(main())
