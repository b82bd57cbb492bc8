print("contoso")
