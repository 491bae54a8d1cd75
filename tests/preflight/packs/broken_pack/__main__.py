raise RuntimeError("this pack cannot start")
